//go:build !unix

package store

import "net"

// connLost cannot look at the socket here: pgxpool's ping of connections
// idle for over a second is the only check.
func connLost(net.Conn) bool { return false }
