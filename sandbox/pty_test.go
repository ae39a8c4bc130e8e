package sandbox_test

import (
	"net"
)

// listenAbstract listens on the abstract Unix socket @name.
func listenAbstract(name string) (net.Listener, error) {
	return net.Listen("unix", "@"+name)
}
