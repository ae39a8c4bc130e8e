package sandbox

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags is what an OCI mount's options mean to mount(2): flags to set,
// flags to clear, and the rest as the filesystem's data string.
type mountFlags struct {
	set   uintptr
	clear uintptr
	data  string
}

func (f mountFlags) bind() bool { return f.set&unix.MS_BIND != 0 }

// mountOptions maps the OCI option words nook understands to flags. An
// option not in the table is passed to the filesystem as data
// ("mode=755", "newinstance", ...).
var mountOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"noatime":     {false, unix.MS_NOATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
}

// parseMountOptions splits OCI mount options into flags and data.
func parseMountOptions(options []string) mountFlags {
	var f mountFlags
	var data []string
	for _, o := range options {
		m, ok := mountOptions[o]
		switch {
		case !ok:
			data = append(data, o)
		case m.clear:
			f.set &^= m.flag
			f.clear |= m.flag
		default:
			f.set |= m.flag
			f.clear &^= m.flag
		}
	}
	f.data = strings.Join(data, ",")
	return f
}
