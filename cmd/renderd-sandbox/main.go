// Command renderd-sandbox is the media sandbox's helper on its own: what
// `renderd sandbox-exec` does, in a binary that starts in about a
// millisecond instead of renderd's fifteen (its dependencies' package
// initialisation), a cost every probe and encode pays. renderd uses it when
// it lies beside renderd's own binary (docs/renders.md, "The media
// sandbox").
//
//	renderd-sandbox [--uid N --gid N] [--memory BYTES] [--no-sockets] [--files ro,rw,…] -- /path/to/tool args…
package main

import (
	"os"

	"github.com/renderd/renderd/adapters/ffmpeg"
)

func main() {
	os.Exit(ffmpeg.SandboxExec(os.Args[1:]))
}
