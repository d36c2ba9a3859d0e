/* Minimal printf: enough for guest logs. Output goes through a sink so
 * the same formatter serves rt_printf (console) and rt_snprintf. */
#include "rt.h"

struct sink {
    char *buf; /* NULL: console */
    size_t cap;
    size_t n; /* chars produced (snprintf semantics) */
};

static void emit(struct sink *s, char c)
{
    if (s->buf == NULL)
        rt_putc(c);
    else if (s->n + 1 < s->cap)
        s->buf[s->n] = c;
    s->n++;
}

static void emit_padded(struct sink *s, const char *str, size_t len,
                        int width, int left, char pad, int neg)
{
    int fill = width - (int)len - neg;
    if (neg && pad == '0')
        emit(s, '-');
    while (!left && fill-- > 0)
        emit(s, pad);
    if (neg && pad != '0')
        emit(s, '-');
    for (size_t i = 0; i < len; i++)
        emit(s, str[i]);
    while (left && fill-- > 0)
        emit(s, ' ');
}

static size_t utoa(uint64_t v, unsigned base, int upper, char *out)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    char num[24];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(s, *fmt);
            continue;
        }
        fmt++;
        int left = 0;
        char pad = ' ';
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (left)
            pad = ' ';
        int lng = 0; /* 0: int, 1: long / long long / size_t */
        while (*fmt == 'l' || *fmt == 'z') {
            lng = 1;
            fmt++;
        }

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            size_t n = utoa(mag, 10, 0, num);
            emit_padded(s, num, n, width, left, pad, v < 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            size_t n = utoa(v, *fmt == 'u' ? 10 : 16, *fmt == 'X', num);
            emit_padded(s, num, n, width, left, pad, 0);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            emit(s, '0');
            emit(s, 'x');
            size_t n = utoa(v, 16, 0, num);
            emit_padded(s, num, n, width - 2, left, pad, 0);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (str == NULL)
                str = "(null)";
            emit_padded(s, str, strlen(str), width, left, ' ', 0);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            emit_padded(s, &c, 1, width, left, ' ', 0);
            break;
        }
        case '%':
            emit(s, '%');
            break;
        case '\0':
            return; /* trailing lone '%' */
        default:
            emit(s, '%');
            emit(s, *fmt);
            break;
        }
    }
}

int rt_vprintf(const char *fmt, va_list ap)
{
    struct sink s = {NULL, 0, 0};
    format(&s, fmt, ap);
    return (int)s.n;
}

int rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int rt_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    struct sink s = {buf, cap, 0};
    va_list ap;
    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    if (cap > 0)
        buf[s.n < cap ? s.n : cap - 1] = '\0';
    return (int)s.n;
}
