// Command mkbundle builds an OCI bundle with a busybox rootfs and a config.json
// shaped like the reference runtime's example spec (see package tests/bundle).
//
//	mkbundle [-o DIR] [-hostname NAME] [-force] [-- ARGS...]
//
// ARGS become process.args (default: sh).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/husk-runtime/husk/tests/bundle"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "mkbundle: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "build/demo-bundle", "bundle directory to create")
	hostname := flag.String("hostname", bundle.DefaultHostname, "container hostname")
	force := flag.Bool("force", false, "replace the bundle directory if it exists")
	flag.Parse()

	dir, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("bundle path %s: %w", *out, err)
	}
	if _, err := os.Lstat(dir); err == nil {
		if !*force {
			return fmt.Errorf("bundle %s already exists (use -force to replace it)", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove old bundle %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create bundle %s: %w", dir, err)
	}
	if err := bundle.BuildRootfs(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	s := bundle.DefaultSpec(flag.Args()...)
	s.Hostname = *hostname
	if err := bundle.WriteConfig(dir, s); err != nil {
		return err
	}
	fmt.Printf("bundle written to %s\n", dir)
	return nil
}
