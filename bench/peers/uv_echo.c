/* uv_echo.c: the libuv peer: an echo server in libuv's callback style, one loop, one thread. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

/*
 * The usual shape of a fast libuv echo: every read lands in the loop's one
 * buffer, is written back with uv_try_write at once, and only the part the
 * socket does not take is copied into a write request.
 */
#define BUF_SIZE (64 * 1024)

static char buf[BUF_SIZE];
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;

struct pending_write {
    uv_write_t req;
    uv_buf_t data;
};

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    *out = uv_buf_init(buf, sizeof buf);
}

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void on_written(uv_write_t *req, int status)
{
    struct pending_write *w = (struct pending_write *)req;
    uv_stream_t *stream = req->handle;
    free(w->data.base);
    free(w);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)stream))
            uv_close((uv_handle_t *)stream, on_closed);
        return;
    }
    /* Everything queued went out: read again. */
    if (uv_stream_get_write_queue_size(stream) == 0 && !uv_is_closing((uv_handle_t *)stream))
        uv_read_start(stream, on_alloc, on_read);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    if (nread == 0)
        return;
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)stream))
            uv_close((uv_handle_t *)stream, on_closed);
        return;
    }
    uv_buf_t out = uv_buf_init(b->base, (unsigned)nread);
    int sent = uv_try_write(stream, &out, 1);
    if (sent == nread)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        uv_close((uv_handle_t *)stream, on_closed);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0;
    struct pending_write *w = malloc(sizeof *w);
    char *copy = malloc((size_t)nread - done);
    if (!w || !copy) {
        free(w);
        free(copy);
        uv_close((uv_handle_t *)stream, on_closed);
        return;
    }
    memcpy(copy, b->base + done, (size_t)nread - done);
    w->data = uv_buf_init(copy, (unsigned)((size_t)nread - done));
    /* Stop reading until the socket has taken the rest: no unbounded buffering. */
    uv_read_stop(stream);
    if (uv_write(&w->req, stream, &w->data, 1, on_written) < 0) {
        free(copy);
        free(w);
        uv_close((uv_handle_t *)stream, on_closed);
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *client = malloc(sizeof *client);
    if (!client)
        return;
    uv_tcp_init(loop, client);
    if (uv_accept(srv, (uv_stream_t *)client) == 0)
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    else
        uv_close((uv_handle_t *)client, on_closed);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_stop(loop);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();

    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc != 0) {
        fprintf(stderr, "uv_echo: listen: %s\n", uv_strerror(rc));
        return 1;
    }
    int len = sizeof addr;
    uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    printf("listening on tcp://127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
