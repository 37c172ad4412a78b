// Wrapper module that pins the Gateway API CRDs. Nothing is built from it: build.sh
// downloads the module and copies the CRDs under config/crd/standard into the cache.
module mlops-operator/hack/toolchain/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
