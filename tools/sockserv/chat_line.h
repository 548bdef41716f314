/* chat_line.h: the chat handler's line framing, apart from the I/O so that tests/fuzz/ can call it. */
#ifndef SOCKSERV_CHAT_LINE_H
#define SOCKSERV_CHAT_LINE_H

#include <stddef.h>

enum chat_line {
    CHAT_LINE_SAY,           /* post the text to the room */
    CHAT_LINE_QUIT           /* the client said "quit": end its session */
};

/* Frame one line as ss_readline_ref() gives it: n > 0 bytes, ending in '\n'
 * unless the input ended first. Sets *len to the length of the text, the
 * line without its "\n" or "\r\n"; the text "quit" (with blanks around)
 * asks to leave. The length limit is the reader's (see chat.c). */
enum chat_line chat_line_frame(const char *line, size_t n, size_t *len);

#endif
