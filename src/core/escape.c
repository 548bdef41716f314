/* escape.c: bytes a client controls, made safe to print: control and non-ASCII bytes as \xNN. */
#include "core/internal.h"

/* Which bytes become \xNN: control characters (C0 and DEL) always, so the
 * text cannot move a terminal's cursor, end a log line or ring a bell;
 * every non-ASCII byte (a lone 0x9b is a CSI to some terminals); and, for
 * a name (SS__ESC_NAME), the space and the backslash too, so a name is one
 * word and its escapes cannot be forged. */
static bool needs_escape(unsigned char c, int mode)
{
    if (c < 0x20 || c >= 0x7f)
        return true;
    return mode == SS__ESC_NAME && (c == ' ' || c == '\\');
}

size_t ss__escape(const char *in, size_t n, char *out, size_t size, int mode)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    if (size == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        bool esc = needs_escape(c, mode);
        size_t need = esc ? 4 : 1;
        if (size - 1 - used < need) /* never cut an escape in half */
            break;
        if (esc) {
            out[used++] = '\\';
            out[used++] = 'x';
            out[used++] = hex[c >> 4];
            out[used++] = hex[c & 15];
        } else {
            out[used++] = (char)c;
        }
    }
    out[used] = '\0';
    return used;
}
