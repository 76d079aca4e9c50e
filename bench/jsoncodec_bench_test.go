package bench

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
)

// codecSizes are the numbers of configurations decoded or encoded per op.
var codecSizes = []int{1000, 10000}

// BenchmarkCodecDecode is the decode step of Reload without etcd: the n
// stored configurations of a namespace decoded into normalized values with
// one decoder per load, the values kept until the load is done, as a view
// keeps them. Each codec is first checked to give jsonvalue's values.
func BenchmarkCodecDecode(b *testing.B) {
	for _, n := range codecSizes {
		raw, want := storedValues(n)
		size := 0
		for _, r := range raw {
			size += len(r)
		}
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			for _, c := range codecs {
				if c.newDecoder == nil {
					continue
				}
				b.Run("lib="+c.lib+build, func(b *testing.B) {
					out := make([]map[string]any, n)
					decode := c.newDecoder()
					for i, r := range raw {
						got, err := decode(r)
						if err != nil {
							b.Fatalf("%s: configuration %d: %v", c.lib, i, err)
						}
						if !reflect.DeepEqual(got, want[i]) {
							b.Fatalf("%s: configuration %d: got %#v, want %#v", c.lib, i, got, want[i])
						}
					}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					cpu0 := cpuTime()
					for b.Loop() {
						decode := c.newDecoder()
						for i, r := range raw {
							obj, err := decode(r)
							if err != nil {
								b.Fatal(err)
							}
							out[i] = obj
						}
					}
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}

// BenchmarkCodecEncode is the encode step of Persist without etcd: the n
// normalized configurations Set made encoded, each into a new slice (the
// store keeps it). Each codec is first checked to give jsonvalue's bytes.
func BenchmarkCodecEncode(b *testing.B) {
	for _, n := range codecSizes {
		want, values := storedValues(n)
		size := 0
		for _, r := range want {
			size += len(r)
		}
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			for _, c := range codecs {
				if c.encode == nil {
					continue
				}
				b.Run("lib="+c.lib+build, func(b *testing.B) {
					for i, v := range values {
						got, err := c.encode(v)
						if err != nil {
							b.Fatalf("%s: configuration %d: %v", c.lib, i, err)
						}
						if !bytes.Equal(got, want[i]) {
							b.Fatalf("%s: configuration %d: got %s, want %s", c.lib, i, got, want[i])
						}
					}
					out := make([][]byte, n)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					cpu0 := cpuTime()
					for b.Loop() {
						for i, v := range values {
							raw, err := c.encode(v)
							if err != nil {
								b.Fatal(err)
							}
							out[i] = raw
						}
					}
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}
