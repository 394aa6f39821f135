// Command sdnotify sends its arguments, one per line, to $NOTIFY_SOCKET as a single datagram, as
// sd_notify(3) does. Tests copy it (built static) into a container's rootfs.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		fmt.Fprintln(os.Stderr, "sdnotify: NOTIFY_SOCKET is not set")
		os.Exit(2)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(os.Args[1:], "\n"))); err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
}
