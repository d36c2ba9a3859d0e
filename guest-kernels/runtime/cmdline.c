/* Command-line parsing: tokens separated by spaces/tabs, each either
 * `key=value` or a bare `flag`. Integer-only parsing (no FP in guests). */
#include "rt.h"
#include "rt_internal.h"

static const char *g_cmdline = "";

void rt_cmdline_init(const char *cmdline)
{
    g_cmdline = cmdline ? cmdline : "";
}

const char *rt_cmdline(void)
{
    return g_cmdline;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *rt_arg(const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *found = NULL;
    size_t flen = 0;
    const char *p = g_cmdline;
    while (*p) {
        while (is_space(*p))
            p++;
        const char *tok = p;
        while (*p && !is_space(*p))
            p++;
        size_t tlen = (size_t)(p - tok);
        if (tlen < klen || strncmp(tok, key, klen) != 0)
            continue;
        if (tlen == klen) { /* bare flag */
            found = tok + tlen;
            flen = 0;
        } else if (tok[klen] == '=') {
            found = tok + klen + 1;
            flen = tlen - klen - 1;
        }
    }
    if (found && len)
        *len = flen;
    return found;
}

int rt_arg_present(const char *key)
{
    return rt_arg(key, NULL) != NULL;
}

static int eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncmp(s, lit, len) == 0;
}

int rt_arg_flag(const char *key)
{
    size_t len;
    const char *v = rt_arg(key, &len);
    if (v == NULL)
        return 0;
    return !(eq(v, len, "0") || eq(v, len, "no") || eq(v, len, "false") ||
             eq(v, len, "off"));
}

int rt_parse_u64(const char *s, size_t len, uint64_t *out)
{
    unsigned base = 10;
    size_t i = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < len; i++, digits++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return 0; /* overflow */
        v = v * base + d;
    }
    if (digits == 0)
        return 0;
    if (i < len) { /* optional binary-unit suffix, then end */
        unsigned shift;
        switch (s[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return 0;
        }
        if (i + 1 != len || v > (UINT64_MAX >> shift))
            return 0;
        v <<= shift;
    }
    *out = v;
    return 1;
}

int rt_parse_ppm(const char *s, size_t len, uint32_t *out)
{
    /* Accept "I", "I.F", ".F" (fraction) or "P%" / "P.F%" (percent). */
    int percent = len > 0 && s[len - 1] == '%';
    if (percent)
        len--;
    uint64_t whole = 0, frac = 0, scale = 1;
    size_t i = 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        whole = whole * 10 + (uint64_t)(s[i] - '0');
        if (whole > 1000)
            return 0;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (scale < 100000000ull) { /* extra digits are ignored */
                frac = frac * 10 + (uint64_t)(s[i] - '0');
                scale *= 10;
            }
        }
    }
    if (i != len || digits == 0)
        return 0;
    uint64_t unit = percent ? RT_PPM_ONE / 100 : RT_PPM_ONE;
    uint64_t ppm = whole * unit + frac * unit / scale;
    *out = ppm > RT_PPM_ONE ? RT_PPM_ONE : (uint32_t)ppm;
    return 1;
}

uint64_t rt_arg_u64(const char *key, uint64_t def)
{
    size_t len;
    const char *v = rt_arg(key, &len);
    uint64_t out;
    if (v == NULL || !rt_parse_u64(v, len, &out))
        return def;
    return out;
}

uint32_t rt_arg_ppm(const char *key, uint32_t def)
{
    size_t len;
    const char *v = rt_arg(key, &len);
    uint32_t out;
    if (v == NULL || !rt_parse_ppm(v, len, &out))
        return def;
    return out;
}

int rt_arg_str(const char *key, char *buf, size_t n)
{
    size_t len;
    const char *v = rt_arg(key, &len);
    if (v == NULL)
        return 0;
    if (n > 0) {
        if (len > n - 1)
            len = n - 1;
        memcpy(buf, v, len);
        buf[len] = '\0';
    }
    return 1;
}
