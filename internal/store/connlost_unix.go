//go:build unix

package store

import (
	"errors"
	"net"
	"syscall"
)

// connLost reports whether an idle database connection was closed by the
// server, without a round trip: it peeks at the socket without blocking.
// An idle connection has nothing to read; pending bytes are the server's
// FATAL message of a terminated backend (or something else the client did
// not ask for), and a read of zero bytes is the server's close.
func connLost(c net.Conn) bool {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// Control, not Read: Read waits for the descriptor's read lock, which
	// pgconn's background reader may hold, blocked, while the connection
	// sits idle in the pool. A non-blocking peek needs no lock.
	lost := false
	err = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
			lost = false // nothing to read: the connection is idle and open
		default:
			// An error, 0 (closed by the server) or an unasked-for
			// message.
			lost = err != nil || n >= 0
		}
	})
	return lost || err != nil
}
