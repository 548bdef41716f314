/* chat_line.c: the chat handler's line framing: strip the line end, recognise "quit". */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "chat_line.h"

static bool is_quit(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    return len == 4 && memcmp(text, "quit", 4) == 0;
}

enum chat_line chat_line_frame(const char *line, size_t n, size_t *len)
{
    if (n > 0 && line[n - 1] == '\n') {
        n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
    }
    *len = n;
    return is_quit(line, n) ? CHAT_LINE_QUIT : CHAT_LINE_SAY;
}
