package layout

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Reference is a parsed image reference.
type Reference struct {
	// Name is the full normalised form, as index.json records tags:
	// "index.docker.io/library/alpine:latest", "localhost:5000/app:1", or
	// "REPOSITORY@sha256:HEX" for a digest reference.
	Name string
	// Digest is "ALGORITHM:HEX" for a digest reference, "" for a tag.
	Digest string
}

// The rules below are go-containerregistry's pkg/name (ParseReference with
// the default options), which package image uses to write and pull tags;
// image's TestReferenceRulesMatchGoContainerregistry holds them equal.
const (
	defaultRegistry      = "index.docker.io"
	defaultRegistryAlias = "docker.io"
	defaultNamespace     = "library"
	defaultTag           = "latest"
	repositoryChars      = "abcdefghijklmnopqrstuvwxyz0123456789_-./"
	tagChars             = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// ParseReference parses an image reference: "debian/firefox:esr",
// "localhost:5000/x:y", "alpine" (Docker Hub, tag latest) or
// "name@sha256:...". Errors wrap ErrBadReference.
func ParseReference(ref string) (Reference, error) {
	if ref == "" {
		return Reference{}, fmt.Errorf("%w: empty reference", ErrBadReference)
	}
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return Reference{}, fmt.Errorf("%w %q: image reference must not contain a URL scheme (http:// or https://): %s", ErrBadReference, ref, ref)
	}
	if repo, tag, err := parseTag(ref); err == nil {
		return Reference{Name: repo + ":" + tag}, nil
	}
	if repo, dig, err := parseDigest(ref); err == nil {
		return Reference{Name: repo + "@" + dig, Digest: dig}, nil
	}
	return Reference{}, fmt.Errorf("%w %q: could not parse reference: %s", ErrBadReference, ref, ref)
}

// parseTag splits "REPOSITORY[:TAG]" into the normalised repository and
// the tag (default latest).
func parseTag(s string) (repo, tag string, err error) {
	base := s
	parts := strings.Split(s, ":")
	if len(parts) > 1 && !strings.Contains(parts[len(parts)-1], "/") {
		base = strings.Join(parts[:len(parts)-1], ":")
		tag = parts[len(parts)-1]
		if tag == "" {
			return "", "", fmt.Errorf("%s must specify a tag name after the colon", s)
		}
		if err := checkElement("tag", tag, tagChars, 1, 128); err != nil {
			return "", "", err
		}
	}
	if tag == "" {
		tag = defaultTag
	}
	repo, err = parseRepository(base)
	return repo, tag, err
}

// parseDigest splits "REPOSITORY[:TAG]@ALGORITHM:HEX" into the normalised
// repository and the digest.
func parseDigest(s string) (repo, dig string, err error) {
	parts := strings.Split(s, "@")
	if len(parts) != 2 {
		return "", "", fmt.Errorf("a digest must contain exactly one '@' separator: %s", s)
	}
	base, dig := parts[0], parts[1]
	if err := validateDigest(dig); err != nil {
		return "", "", err
	}
	if r, _, err := parseTag(base); err == nil {
		base = r
	}
	repo, err = parseRepository(base)
	return repo, dig, err
}

// hexLen is the length in hex digits of the digests of each algorithm
// go-digest accepts.
var hexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

func validateDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	n, known := hexLen[alg]
	if !ok || alg == "" || hex == "" || !known || len(hex) != n {
		return fmt.Errorf("invalid digest %q", d)
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("invalid digest %q", d)
		}
	}
	return nil
}

// parseRepository normalises "[REGISTRY/]PATH": Docker Hub's registry
// when there is none, and its "library/" for one-element paths.
func parseRepository(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("a repository name must be specified")
	}
	registry, repo := "", s
	if first, rest, ok := strings.Cut(s, "/"); ok && (first == "localhost" || strings.ContainsAny(first, ".:")) {
		registry, repo = first, rest
	}
	if err := checkElement("repository", repo, repositoryChars, 1, 255); err != nil {
		return "", err
	}
	if u, err := url.Parse("//" + registry); err != nil || u.Host != registry {
		return "", fmt.Errorf("registries must be valid RFC 3986 URI authorities: %s", registry)
	}
	switch registry {
	case "", defaultRegistryAlias:
		registry = defaultRegistry
	}
	if registry == defaultRegistry && !strings.Contains(repo, "/") {
		repo = defaultNamespace + "/" + repo
	}
	return registry + "/" + repo, nil
}

func checkElement(what, s, allowed string, minRunes, maxRunes int) error {
	if n := utf8.RuneCountInString(s); n < minRunes || n > maxRunes {
		return fmt.Errorf("%s must be between %d and %d characters in length: %s", what, minRunes, maxRunes, s)
	}
	for _, r := range s {
		if !strings.ContainsRune(allowed, r) {
			return fmt.Errorf("%s can only contain the characters `%s`: %s", what, allowed, s)
		}
	}
	return nil
}

// Familiar is the short form people type: Docker Hub's registry and
// "library/" are left out ("index.docker.io/library/alpine:latest" ->
// "alpine:latest").
func Familiar(ref string) string {
	for _, p := range []string{"index.docker.io/library/", "index.docker.io/", "docker.io/library/", "docker.io/"} {
		if r, ok := strings.CutPrefix(ref, p); ok {
			return r
		}
	}
	return ref
}
