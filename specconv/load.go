package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the configuration file inside a bundle.
const ConfigFile = "config.json"

// requiredFields mirrors the parts of the spec whose presence the Go types
// cannot show (a missing uid decodes as 0).
type requiredFields struct {
	Process *struct {
		User *struct {
			UID *uint32 `json:"uid"`
			GID *uint32 `json:"gid"`
		} `json:"user"`
	} `json:"process"`
}

// Load reads bundle/config.json, decodes and validates it, and returns the
// spec together with the absolute bundle path. In the returned spec,
// root.path is absolute with symlinks resolved, and relative mount
// destinations are made absolute (relative to "/").
func Load(bundle string) (*specs.Spec, string, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", bundle, err)
	}
	path := filepath.Join(abs, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("JSON specification file %s not found", path)
		}
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, "", err
	}
	if s.Root != nil && s.Root.Path != "" && !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(abs, s.Root.Path)
	}
	if err := Validate(s); err != nil {
		return nil, "", err
	}
	rootfs, err := filepath.EvalSymlinks(s.Root.Path)
	if err != nil {
		return nil, "", fmt.Errorf("resolve rootfs %s: %w", s.Root.Path, err)
	}
	s.Root.Path = rootfs
	for i := range s.Mounts {
		if !filepath.IsAbs(s.Mounts[i].Destination) {
			s.Mounts[i].Destination = filepath.Join("/", s.Mounts[i].Destination)
		}
	}
	return s, abs, nil
}

// Parse decodes config.json content and checks that the fields the Go types
// cannot mark as missing (process.user.uid and gid) are present. It does not
// call Validate.
func Parse(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ConfigFile, err)
	}
	var req requiredFields
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ConfigFile, err)
	}
	if req.Process != nil {
		if req.Process.User == nil {
			return nil, errors.New("process.user must be specified")
		}
		if req.Process.User.UID == nil {
			return nil, errors.New("process.user.uid must be specified")
		}
		if req.Process.User.GID == nil {
			return nil, errors.New("process.user.gid must be specified")
		}
	}
	return &s, nil
}
