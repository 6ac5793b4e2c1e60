// Package bench holds the Go benchmarks of the batch path: building a batch
// for N recipients × M messages × S bytes (unicast and broadcast), opening a
// leaf, and verifying many batch signatures at once versus one by one.
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// Benchmarks report measurements, not pass/fail results; compare runs with
// benchstat.
package bench
