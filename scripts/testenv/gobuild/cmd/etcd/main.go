// Command etcd is the upstream etcd server (the etcdmain entry point of
// go.etcd.io/etcd/server/v3), built at the version Kubernetes pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
