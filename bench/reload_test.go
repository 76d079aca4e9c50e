package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	koanfetcd "github.com/knadh/koanf/providers/etcd/v2"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/viper"
	_ "github.com/spf13/viper/remote" // viper's etcd3 remote provider
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BenchmarkReload reads a namespace of n configurations into a fresh
// reader, each value decoded into map[string]any:
//
//   - confo: a new Manager and UseNamespace (the etcd backend's Load: one
//     transaction with the first page, further pages at its revision, then
//     each value decoded and normalized).
//   - raw: clientv3 range reads paged like Confo's (1000 keys a page, at one
//     revision), each value decoded with json.Unmarshal into map[string]any:
//     the limit.
//   - raw-nodecode: the same reads without decoding, to show what decoding
//     costs.
//   - koanf: koanf.New and Load of koanf's etcd provider (one unpaged
//     prefix read), which keeps each value as a string; koanf-decode adds
//     json.Unmarshal of every value, which a koanf user needs to read a
//     field.
//   - viper: viper.New and ReadRemoteConfig of the etcd3 remote provider,
//     which reads one key holding one JSON document of all n configurations
//     and decodes it. Such a key cannot exceed etcd's request limit (1.5 MiB
//     by default), so the largest n is skipped with the size it needed.
//
// The peers' clients cannot be intercepted, so their rpcs/op come from the
// in-process etcd's own count.
func BenchmarkReload(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		ns := seed(b, n)
		b.Run("lib=confo", func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			var t tally
			for b.Loop() {
				t.begin()
				m, err := loadManager(ctx, ns)
				if err != nil {
					b.Fatal(err)
				}
				t.end()
				m.Close()
			}
			t.report(b, false)
		})
		for _, decode := range []bool{true, false} {
			lib := "lib=raw"
			if !decode {
				lib = "lib=raw-nodecode"
			}
			b.Run(lib, func(b *testing.B) {
				ctx := b.Context()
				b.ReportAllocs()
				var t tally
				for b.Loop() {
					t.begin()
					all, err := rawLoad(ctx, nsPrefix(ns), decode)
					if err != nil {
						b.Fatal(err)
					}
					t.end()
					if len(all) != n {
						b.Fatalf("raw read %d configurations, want %d", len(all), n)
					}
				}
				t.report(b, false)
			})
		}
		for _, decode := range []bool{false, true} {
			lib := "lib=koanf"
			if decode {
				lib = "lib=koanf-decode"
			}
			b.Run(lib, func(b *testing.B) {
				prov := koanfProvider(b, nsPrefix(ns))
				b.ReportAllocs()
				var t tally
				for b.Loop() {
					t.begin()
					k := koanf.New(".")
					if err := k.Load(prov, nil); err != nil {
						b.Fatal(err)
					}
					if decode {
						all := k.All()
						decoded := make(map[string]map[string]any, len(all))
						for key, v := range all {
							var obj map[string]any
							if err := json.Unmarshal([]byte(v.(string)), &obj); err != nil {
								b.Fatal(err)
							}
							decoded[key] = obj
						}
					}
					t.end()
				}
				t.reportServer(b)
			})
		}
		b.Run("lib=viper", func(b *testing.B) {
			key := viperKey(b, n)
			b.ReportAllocs()
			var t tally
			for b.Loop() {
				t.begin()
				v := viper.New()
				if err := v.AddRemoteProvider("etcd3", "http://"+endpoints[0], key); err != nil {
					b.Fatal(err)
				}
				v.SetConfigType("json")
				if err := v.ReadRemoteConfig(); err != nil {
					b.Fatal(err)
				}
				t.end()
			}
			t.reportServer(b)
		})
	})
}

// rawLoad reads every key under keyPrefix in pages of pageSize at one
// revision and, when decode is set, decodes each value into map[string]any.
func rawLoad(ctx context.Context, keyPrefix string, decode bool) (map[string]map[string]any, error) {
	end := clientv3.GetPrefixRangeEnd(keyPrefix)
	all := make(map[string]map[string]any)
	start := keyPrefix
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, start, opts...)
		if err != nil {
			return nil, err
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			var obj map[string]any
			if decode {
				if err := json.Unmarshal(kv.Value, &obj); err != nil {
					return nil, fmt.Errorf("%s: %w", kv.Key, err)
				}
			}
			all[string(kv.Key[len(keyPrefix):])] = obj
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return all, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// koanfProvider returns koanf's etcd provider reading every key under
// keyPrefix. It has its own client, closed by nothing: koanf offers no way.
func koanfProvider(tb testing.TB, keyPrefix string) *koanfetcd.Etcd {
	tb.Helper()
	prov, err := koanfetcd.Provider(koanfetcd.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Prefix:      true,
		Key:         keyPrefix,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return prov
}

var viperKeys sync.Map // n -> error or nil

// viperKey writes the document viper reads, {"<name>": {...}, ...} of n
// configurations, under one key, once per run, and returns the key. A
// document larger than etcd accepts skips tb, saying how large it was.
func viperKey(tb testing.TB, n int) string {
	tb.Helper()
	key := fmt.Sprintf("%s-viper/%d", prefix, n)
	if prev, ok := viperKeys.Load(n); ok {
		if prev != nil {
			tb.Skip(prev)
		}
		return key
	}
	doc := make(map[string]any, n)
	for i := range n {
		doc[name(i)] = config(i)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	// A client that sends up to 8 MiB, so that the refusal, if any, is
	// etcd's (--max-request-bytes) and not the client's 2 MiB default.
	big, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		MaxCallSendMsgSize: 8 << 20,
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer big.Close()
	if _, err := big.Put(tb.Context(), key, string(raw)); err != nil {
		// etcd refuses a request over --max-request-bytes with "request is
		// too large", and one over that plus 512 KiB in gRPC already.
		tooLarge := errors.Is(err, rpctypes.ErrGRPCRequestTooLarge) || status.Code(err) == codes.ResourceExhausted
		if !tooLarge {
			tb.Fatal(err)
		}
		msg := fmt.Sprintf("viper remote stops at N=%d: its one key of %d bytes exceeds etcd's request limit (%v)", n, len(raw), err)
		viperKeys.Store(n, msg)
		fmt.Println("note:", msg) // in bench.txt, which benchstat ignores
		tb.Skip(msg)
	}
	viperKeys.Store(n, nil)
	return key
}

// viperData returns a viper holding the same document, read as
// ReadRemoteConfig reads it.
func viperData(tb testing.TB, n int) *viper.Viper {
	tb.Helper()
	doc := make(map[string]any, n)
	for i := range n {
		doc[name(i)] = config(i)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	v := viper.New()
	v.SetConfigType("json")
	if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
		tb.Fatal(err)
	}
	return v
}
