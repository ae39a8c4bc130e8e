package image

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Progress, when not nil, is told about each layer.
	Progress Progress
	// Remote are extra options for go-containerregistry's remote package
	// (tests pass a transport).
	Remote []remote.Option
}

// Pull fetches ref from its registry and tags it. Credentials come from
// ~/.docker/config.json ($DOCKER_CONFIG), $REGISTRY_AUTH_FILE or
// $XDG_RUNTIME_DIR/containers/auth.json (authn.DefaultKeychain). Registries
// on localhost or a loopback address are spoken to over plain HTTP. A
// multi-platform image gives its linux/GOARCH variant. Blobs and diff IDs
// are verified; layers already in the store are not fetched again.
func (s *Store) Pull(ctx context.Context, ref string, opt PullOptions) (Imported, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return Imported{}, err
	}
	if isLoopback(r.Context().RegistryStr()) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return Imported{}, fmt.Errorf("%w %q: %v", ErrBadReference, ref, err)
		}
	}
	opts := append([]remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}, opt.Remote...)
	img, err := remote.Image(r, opts...)
	if err != nil {
		return Imported{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	src, err := remoteSource(img)
	if err != nil {
		return Imported{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	desc, err := s.putImage(src, opt.Progress)
	if err != nil {
		return Imported{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	out := Imported{Digest: desc.Digest.String()}
	if _, ok := r.(name.Tag); ok {
		out.Ref = r.Name()
	}
	err = s.updateIndex(func(idx *v1.IndexManifest) error {
		if out.Ref != "" {
			setTag(idx, out.Ref, desc)
		} else if !hasDigest(idx, desc.Digest) {
			idx.Manifests = append(idx.Manifests, desc)
		}
		return nil
	})
	return out, err
}

// remoteSource reads a remote image's manifest and config and makes its
// layers readable on demand.
func remoteSource(img v1.Image) (source, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return source{}, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return source{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return source{}, err
	}
	src := source{config: cfg, manifest: raw}
	for _, l := range m.Layers {
		src.layers = append(src.layers, srcLayer{size: l.Size, open: func() (io.ReadCloser, error) {
			layer, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return nil, err
			}
			return layer.Compressed()
		}})
	}
	return src, nil
}

// isLoopback says whether a registry host (with optional port) is this
// machine.
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
