package profiles

import (
	"errors"
	"fmt"
	"strconv"
)

// ResourceKeys are the [resources] keys, in profile order; nook run has a
// flag for each ("memory_swap" is --memory-swap).
var ResourceKeys = schema["resources"]

// ApplyResources overrides r's keys with values given on the command line
// (key -> text, as in "memory" -> "1G"), checked by the rules of the
// profile's [resources] table and reported in its words, from source
// "--KEY" ("--cpus: resources.cpus = 0: must be more than 0 ..."). r is
// changed only when every value is good.
func ApplyResources(r *Resources, values map[string]string) error {
	m := map[string]any{}
	d := &decoder{source: "command line"}
	for _, k := range ResourceKeys {
		s, ok := values[k]
		if !ok {
			continue
		}
		switch k {
		case "memory", "memory_swap", "cpuset":
			m[k] = s
		case "cpus":
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("--cpus %q: must be a number of cores, as in 1.5", s)
			}
			m[k] = f
		default:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("--%s %q: must be an integer", flagName(k), s)
			}
			m[k] = n
		}
	}
	out := *r
	d.resources(table{m: m, path: "resources", kind: "resources"}, &out)
	if len(d.errs) > 0 {
		e := d.errs[0]
		return errors.New("--" + flagName(lastKey(e.Key)) + ": " + e.Msg)
	}
	if out.MemorySwap > 0 && out.Memory > out.MemorySwap {
		return fmt.Errorf("--memory-swap: memory plus swap (%s) must be at least the memory limit (%s); \"0\" means no swap",
			formatSize(out.MemorySwap), formatSize(out.Memory))
	}
	*r = out
	return nil
}

func flagName(key string) string {
	if key == "memory_swap" {
		return "memory-swap"
	}
	if key == "cpu_weight" || key == "io_weight" {
		return key[:len(key)-len("_weight")] + "-weight"
	}
	return key
}

func lastKey(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' {
			return path[i+1:]
		}
	}
	return path
}
