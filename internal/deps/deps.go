// Package deps pins the project's chosen modules in go.mod while the packages
// that use them are written in parallel. Delete it once every module here is
// imported by real code.
package deps

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/gorilla/websocket"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/pion/webrtc/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/yuin/gopher-lua"
	_ "google.golang.org/grpc"
	_ "gopkg.in/yaml.v3"
)
