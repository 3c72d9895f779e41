package bridge

// SNIFor is the server name callers of the bridge with key send when the
// bridge is given none: a name of the bridge's own, derived from its key
// (so it survives restarts and is the same in every offer), in the shape
// of an ordinary site's, "www." + 10 letters + ".com".
//
// A fixed name shared by every bridge would be one entry on a censor's
// SNI list: its first account befriended by a user learns the name from
// the offer and blocks every bridge in the country with it. A name per
// bridge tells the censor no more than the offer's address does.
func SNIFor(key []byte) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	d := derive(key, "server name")
	b := make([]byte, 10)
	for i := range b {
		// 256 is not a multiple of 26: the first letters come a little
		// more often, which matters nothing for a name.
		b[i] = letters[int(d[i])%len(letters)]
	}
	return "www." + string(b) + ".com"
}
