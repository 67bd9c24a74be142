// Only here so that GOPATH mode (GO111MODULE=off) resolves the "/v3" import
// path of sprig through minimal module compatibility; see main.go.
module ws-close-agent/scripts/helm/render

go 1.19
