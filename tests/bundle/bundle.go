// Package bundle builds OCI bundles for tests: a busybox rootfs and a
// config.json shaped like the reference runtime's example spec.
//
// Every bundle gets its own copy of the rootfs (busybox is ~2 MB and the
// applets are symlinks, so building it is as cheap as copying a cached
// template, and nothing outlives the test).
package bundle

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bundle is an OCI bundle directory created for one test.
type Bundle struct {
	// Dir is the bundle directory (holds config.json and rootfs/).
	Dir string
	// Rootfs is the absolute path of the root filesystem.
	Rootfs string
	// Spec is the spec last written to config.json.
	Spec *specs.Spec
}

// Option changes how New builds a bundle.
type Option func(*options)

type options struct {
	args    []string
	mutates []func(*specs.Spec)
}

// Args sets process.args.
func Args(args ...string) Option {
	return func(o *options) { o.args = append([]string(nil), args...) }
}

// WithSpec runs fn on the spec before config.json is written. Several
// WithSpec options run in order, after Args is applied.
func WithSpec(fn func(*specs.Spec)) Option {
	return func(o *options) { o.mutates = append(o.mutates, fn) }
}

// New creates a bundle in a fresh t.TempDir() (removed when the test ends):
// rootfs/ from BuildRootfs and config.json from DefaultSpec with the options
// applied. It fails the test on any error.
func New(t testing.TB, opts ...Option) *Bundle {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	b := &Bundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs")}
	if err := BuildRootfs(b.Rootfs); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	s := DefaultSpec(o.args...)
	for _, fn := range o.mutates {
		fn(s)
	}
	if err := WriteConfig(dir, s); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	b.Spec = s
	return b
}

// Update runs fn on a copy of the bundle's spec and rewrites config.json.
func (b *Bundle) Update(t testing.TB, fn func(*specs.Spec)) {
	t.Helper()
	s, err := cloneSpec(b.Spec)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	fn(s)
	if err := WriteConfig(b.Dir, s); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	b.Spec = s
}

// WriteRaw replaces config.json with data verbatim (for invalid configs).
// Spec keeps the last valid spec written.
func (b *Bundle) WriteRaw(t testing.TB, data []byte) {
	t.Helper()
	if err := WriteRawConfig(b.Dir, data); err != nil {
		t.Fatalf("bundle: %v", err)
	}
}

// ConfigPath returns the path of the bundle's config.json.
func (b *Bundle) ConfigPath() string {
	return filepath.Join(b.Dir, "config.json")
}

func cloneSpec(s *specs.Spec) (*specs.Spec, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("clone spec: %w", err)
	}
	var c specs.Spec
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("clone spec: %w", err)
	}
	return &c, nil
}
