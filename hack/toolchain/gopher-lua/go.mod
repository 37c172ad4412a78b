// Wrapper module that pins gopher-lua, the Lua VM of Argo CD 3.6, and holds
// argocd-lua-health: a runner for Argo CD health scripts and their test cases.
module mlops-operator/hack/toolchain/gopher-lua

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
