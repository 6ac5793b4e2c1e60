module github.com/sealfeed/sealfeed/bench/compare

go 1.26.0

require (
	filippo.io/age v1.3.2
	github.com/flynn/noise v1.1.0
	github.com/sealfeed/sealfeed v0.0.0-00010101000000-000000000000
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	filippo.io/hpke v0.4.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/sealfeed/sealfeed => ../..
