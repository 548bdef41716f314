/* echo.c: the echo handlers: lines back byte for byte (stream), datagrams back whole. */
#include <stdlib.h>

#include "cli.h"
#include "line.h"

/* Stream: each line goes back as read, the last one even without its '\n';
 * a text (the line without "\n" or "\r\n") over max_line ends the request. */
static int echo_stream(ss_request *req)
{
    const struct app *app = ss_server_userdata(ss_request_server(req));
    const char *line;
    ssize_t n;
    size_t lines = 0;

    while ((n = ss_readline_ref(req, &line, line_read_max(app->max_line))) > 0) {
        if (line_text_len(line, (size_t)n) > app->max_line) {
            n = -EMSGSIZE;
            break;
        }
        ssize_t w = ss_write(req, line, (size_t)n);
        if (w < 0)
            return (int)w;
        lines++;
    }
    if (line_silent_reset(req, n, lines))
        return 0;
    if (n == -EMSGSIZE)
        return ss_request_fail(req, -EMSGSIZE, "line longer than %zu bytes", app->max_line);
    if (n == -ETIMEDOUT)
        return ss_request_fail(req, -ETIMEDOUT, "timed out: no complete line within %g s",
                               ss_server_config(ss_request_server(req))->request_timeout);
    return (int)n;
}

/* Datagram: the whole packet is the reply, sent by the library after finish. */
static int echo_datagram(ss_request *req)
{
    char *packet = NULL;
    ssize_t n = ss_read_all(req, &packet, ECHO_MAX_PACKET);

    if (n >= 0) {
        ssize_t w = ss_write(req, packet, (size_t)n);
        if (w < 0)
            n = w;
    }
    free(packet);
    return n < 0 ? (int)n : 0;
}

static int echo_handle(ss_request *req)
{
    return ss_request_is_datagram(req) ? echo_datagram(req) : echo_stream(req);
}

const ss_handler echo_handler = { .handle = echo_handle };
