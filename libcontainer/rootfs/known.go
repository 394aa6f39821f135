package rootfs

import "sort"

// KnownOptions lists every mount option word this package interprets itself (for `husk features`); any
// other word is passed to the filesystem as data. idmap/ridmap are refused, so they are not listed.
func KnownOptions() []string {
	out := []string{"bind", "rbind", "remount", "tmpcopyup"}
	for k := range flagOptions {
		out = append(out, k)
	}
	for k := range recursiveOptions {
		out = append(out, k)
	}
	for k := range propagationOptions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
