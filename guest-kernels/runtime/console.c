/* Line-buffered console: one CONSOLE hypercall per line (or per full
 * buffer) keeps exits cheap and lines atomic in the host log. */
#include "rt.h"

static char buf[512];
static size_t used;

void rt_flush(void)
{
    size_t off = 0;
    while (off < used) {
        int64_t r = hc_console(buf + off, used - off);
        if (r <= 0)
            break; /* console broken: drop rather than spin */
        off += (size_t)r;
    }
    used = 0;
}

void rt_putc(char c)
{
    buf[used++] = c;
    if (c == '\n' || used == sizeof(buf))
        rt_flush();
}

void rt_write(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        rt_putc(s[i]);
}

void rt_puts(const char *s)
{
    rt_write(s, strlen(s));
    rt_putc('\n');
}
