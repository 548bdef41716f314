// tls_echo.go: the Go peer: a crypto/tls echo server, one goroutine per connection (bench/run.py runs it with GOMAXPROCS=1).
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Usage: tls_echo CERT KEY [PORT]. Whatever a client sends is written back
// as read, like bench/peers/epoll_echo.c, over crypto/tls with its defaults
// (session tickets on, so sessions resume); net sets TCP_NODELAY, as Go
// does on every TCP connection. Each connection is the textbook Go server's
// goroutine with a read loop over its own buffer of one TLS record's size
// (16 KiB, what a record carries at most); Read runs the handshake first.
// The ready line is the one every peer prints: listening on
// tls://127.0.0.1:PORT.
const bufSize = 16 * 1024

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF after the client's close_notify; Close sends ours
		}
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tls_echo: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: tls_echo CERT KEY [PORT]")
		os.Exit(2)
	}
	port := 0
	if len(os.Args) == 4 {
		p, err := strconv.Atoi(os.Args[3])
		if err != nil || p < 0 || p > 65535 {
			fmt.Fprintf(os.Stderr, "tls_echo: bad port %s\n", os.Args[3])
			os.Exit(2)
		}
		port = p
	}
	cert, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fail("listen: %v", err)
	}
	tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})

	// SIGTERM and SIGINT end the server with status 0, like the C peers.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		os.Exit(0)
	}()

	// os.Stdout is not buffered: the line goes out now.
	fmt.Printf("listening on tls://127.0.0.1:%d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := tl.Accept()
		if err != nil {
			// Out of descriptors, or a connection gone before it was
			// taken: try again a little later, as epoll_echo does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
