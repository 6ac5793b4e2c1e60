module github.com/sealfeed/sealfeed

go 1.26.0

require (
	filippo.io/edwards25519 v1.2.0
	github.com/dunglas/httpsfv v1.1.2
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	golang.org/x/crypto v0.58.0
	pgregory.net/rapid v1.3.0
)

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
