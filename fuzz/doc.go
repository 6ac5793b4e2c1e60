// Package fuzz holds the Go fuzz targets of every SealFeed decoder and
// opener. Each target has a seed corpus (f.Add) and asserts that the code
// under test never panics and, where it can, that what it accepts re-encodes
// to the same bytes. scripts/test runs each target for a short time.
package fuzz
