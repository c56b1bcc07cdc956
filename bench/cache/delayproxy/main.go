// Command delayproxy forwards TCP connections from --listen to --to and
// delays every byte by half of --rtt in each direction, so that a request
// and its answer cost one extra round trip of --rtt, as to a server on
// another network. Bytes are delayed, not throttled: a stream keeps its
// throughput (as on a fast link with a long path). It only listens on
// 127.0.0.1.
//
//	delayproxy --listen 127.0.0.1:3902 --to 127.0.0.1:3901 --rtt 20ms
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (127.0.0.1 only)")
	to := flag.String("to", "", "address to forward to")
	rtt := flag.Duration("rtt", 20*time.Millisecond, "added round-trip time")
	flag.Parse()
	if *to == "" || !strings.HasPrefix(*listen, "127.0.0.1:") {
		fmt.Fprintln(os.Stderr, "usage: delayproxy --listen 127.0.0.1:PORT --to HOST:PORT --rtt 20ms")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr()) // the caller reads the bound address
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(c, *to, *rtt/2)
	}
}

func handle(c net.Conn, to string, oneWay time.Duration) {
	defer c.Close()
	// The TCP handshake costs one round trip.
	time.Sleep(2 * oneWay)
	u, err := net.Dial("tcp", to)
	if err != nil {
		log.Print(err)
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { pipe(u, c, oneWay); done <- struct{}{} }()
	go func() { pipe(c, u, oneWay); done <- struct{}{} }()
	<-done
}

type chunk struct {
	at   time.Time
	data []byte
	buf  *[]byte // data's buffer, back to bufs once written
}

// bufs recycles the chunks' buffers: the proxy stands for a network,
// whose cost should not include a garbage collector churning through every
// byte that crosses it (228 MB per fresh build in bench/cache/run.sh).
var bufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// pipe copies src to dst, writing each chunk oneWay after it was read.
func pipe(dst, src net.Conn, oneWay time.Duration) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			bp := bufs.Get().(*[]byte)
			buf := *bp
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(oneWay), buf[:n], bp}
			} else {
				bufs.Put(bp)
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		if d := time.Until(ch.at); d > 0 {
			time.Sleep(d)
		}
		_, err := dst.Write(ch.data)
		bufs.Put(ch.buf)
		if err != nil {
			io.Copy(io.Discard, src)
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
