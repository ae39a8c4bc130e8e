package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// libseccompVersion is the version of the libseccomp linked into
// nook-image, which compiles seccomp policies for nook: nook links no
// libseccomp, so that it can be a static musl binary (see scripts/build).
// scripts/build sets it (-X main.libseccompVersion=2.5.4), so that a
// launch can key the seccomp cache without running nook-image; when it is
// empty (a plain go build), nook asks nook-image.
var libseccompVersion string

// imageLibseccomp returns the version of nook-image's libseccomp.
func imageLibseccomp() (string, error) {
	if libseccompVersion != "" {
		return libseccompVersion, nil
	}
	out, err := runImageHelper(nil, "seccomp", "libseccomp-version")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// seccompCompiler is what seccomp.CompileCached runs on a cache miss:
// `nook-image seccomp compile`, given the policy as JSON, which prints the
// program. nook-image refuses when it links another libseccomp than the
// one the cache key names.
func seccompCompiler() (seccomp.Compiler, error) {
	v, err := imageLibseccomp()
	if err != nil {
		return seccomp.Compiler{}, err
	}
	return seccomp.Compiler{Libseccomp: v, Compile: func(s *specs.LinuxSeccomp) ([]byte, error) {
		policy, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encoding seccomp policy: %w", err)
		}
		return runImageHelper(policy, "seccomp", "compile", "--libseccomp", v)
	}}, nil
}

// runImageHelper runs nook-image with args and stdin, and returns its
// standard output; its error message, if it fails, is in the error.
func runImageHelper(stdin []byte, args ...string) ([]byte, error) {
	helper, err := imageHelper()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(helper, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, helperError(helper, err)
	case errors.As(err, &ee):
		if msg := strings.TrimSpace(strings.TrimPrefix(stderr.String(), "nook: ")); msg != "" {
			return nil, fmt.Errorf("nook-image %s: %s", strings.Join(args, " "), msg)
		}
	}
	return nil, fmt.Errorf("running %s %s: %w", helper, strings.Join(args, " "), err)
}
