package state

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound and ErrAmbiguous are wrapped by Match's errors.
var (
	ErrNotFound  = errors.New("no running sandbox matches")
	ErrAmbiguous = errors.New("several running sandboxes match")
)

// Match finds the one record among live that query names. A query is, in
// order of precedence: a whole instance id; "APP:SEQ" ("firefox@esr:2");
// an app ("firefox@esr"), or an app name without version ("firefox", which
// names every version); or a prefix of at least 3 characters of an
// instance id. The first kind that matches anything decides: when it
// matches several records the error lists them.
func Match(live []*Record, query string) (*Record, error) {
	if query == "" {
		return nil, fmt.Errorf("%w: empty name; see 'nook ps'", ErrNotFound)
	}
	kinds := []func(*Record) bool{
		func(r *Record) bool { return r.ID == query },
		func(r *Record) bool { return r.Ref() == query },
		func(r *Record) bool { return r.App == query || r.Name == query },
		func(r *Record) bool { return len(query) >= 3 && strings.HasPrefix(r.ID, query) },
	}
	for _, match := range kinds {
		var found []*Record
		for _, r := range live {
			if match(r) {
				found = append(found, r)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		names := make([]string, len(found))
		for i, r := range found {
			names[i] = r.ID + " (" + r.Ref() + ")"
		}
		return nil, fmt.Errorf("%w %q: %s; name one by ID or APP:N", ErrAmbiguous, query, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("%w %q; see 'nook ps' for the running ones", ErrNotFound, query)
}
