// Command etcd is etcd's own server entry point, built from the version that the
// pinned Kubernetes release requires, so the API server and its store always match.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
