// Package servertest runs a SealFeed server node on a loopback port for
// tests and examples in other packages.
package servertest

import (
	"context"
	"net"

	"github.com/sealfeed/sealfeed/server"
)

// Node is a server node serving on a loopback port.
type Node struct {
	*server.Node
	// Base is the node's base URL, http://127.0.0.1:PORT, and WS the URL
	// of its WebSocket endpoint.
	Base, WS string
	stop     func() error
}

// Start creates a node from cfg and serves it on a fresh loopback port
// until Stop.
func Start(cfg server.Config) (*Node, error) {
	n, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, l) }()
	addr := l.Addr().String()
	return &Node{Node: n, Base: "http://" + addr, WS: "ws://" + addr + server.WebSocketPath,
		stop: func() error { cancel(); return <-done }}, nil
}

// Stop shuts the node down and returns what Serve returned. Call it once.
func (n *Node) Stop() error { return n.stop() }
