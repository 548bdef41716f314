// linecount.cpp: a C++ echo that counts lines: each line comes back as "N TEXT", N how many times any client sent that text.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "sockserv.h"

namespace {

// The handler as a class. ss_handler holds plain function pointers, so the
// hook is a static member that finds the object through the server's
// userdata. An exception must never leave a hook (the library is C and
// cannot unwind it): the hook catches everything and turns it into a
// negative errno with its reason, which reaches handle_error (by default a
// line on stderr) and ends this client's request only.
//
// The counts are shared by every client in sync, threading, pool and event
// modes (the mutex guards them; it is never held across an ss_ I/O call, at
// which a pool or event request may yield to another one on its thread).
// Under forking each client counts in its own copy of the process.
class LineCounter {
public:
    static int handle(ss_request *req) noexcept
    {
        auto *self = static_cast<LineCounter *>(ss_server_userdata(ss_request_server(req)));
        try {
            return self->serve(req);
        } catch (const std::exception &e) {
            return ss_request_fail(req, -EIO, "%s", e.what());
        } catch (...) {
            return ss_request_fail(req, -EIO, "unknown exception");
        }
    }

private:
    static constexpr size_t max_line = 4096;

    int serve(ss_request *req)
    {
        const char *line;
        ssize_t n;
        while ((n = ss_readline_ref(req, &line, max_line)) > 0) {
            std::string text(line, static_cast<size_t>(n));
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
                text.pop_back();
            if (text.find('\0') != std::string::npos)
                throw std::invalid_argument("a NUL byte in a line: this is a text protocol");
            std::string reply = std::to_string(count(text)) + " " + text + "\n";
            ssize_t w = ss_write(req, reply.data(), reply.size());
            if (w < 0)
                return static_cast<int>(w);
        }
        if (n == -EMSGSIZE)
            return ss_request_fail(req, -EMSGSIZE, "line longer than %zu bytes", max_line);
        return static_cast<int>(n); // 0 at end of input, or the negative errno of the read
    }

    unsigned long count(const std::string &text)
    {
        std::lock_guard<std::mutex> hold(lock_);
        return ++counts_[text]; // may throw std::bad_alloc: handle() catches it
    }

    std::mutex lock_;
    std::unordered_map<std::string, unsigned long> counts_;
};

} // namespace

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9999";
    ss_strategy mode = SS_THREADING;
    if (argc > 3 || (argc > 2 && ss_strategy_from_name(argv[2], &mode) < 0)) {
        std::fprintf(stderr, "usage: %s [URL] [sync|threading|forking|pool|event]\n", argv[0]);
        return 2;
    }
    LineCounter counter;
    ss_handler handler{};
    handler.handle = &LineCounter::handle;

    // C++: fill ss_config field by field (C's compound literal with
    // designators is not C++; C++20's designated initializers also work,
    // in the order the fields are declared).
    ss_config cfg{};
    cfg.listen = url;
    cfg.handler = &handler;
    cfg.strategy = mode;
    cfg.userdata = &counter;
    cfg.allow_reuse_address = true;
    ss_server *srv = ss_server_new(&cfg);
    if (srv == nullptr) {
        int err = errno;
        const char *why = ss_last_error(); // the field or URL at fault, if that was it
        if (why != nullptr)
            std::fprintf(stderr, "linecount: %s\n", why);
        else
            std::fprintf(stderr, "linecount: %s: %s\n", url, std::strerror(err));
        return err == EINVAL ? 2 : 1; // EINVAL: a bad URL
    }
    // SIGINT (Ctrl-C) or SIGTERM: stop accepting, give requests 1 s to finish.
    ss_stop_on_signals(srv, 1.0, nullptr);

    std::printf("listening on %s\n", ss_server_url(srv));
    std::fflush(stdout);
    ss_serve_forever(srv, 0.5);
    ss_server_close(srv); // waits for the requests, which use counter: it outlives them
    return 0;
}
