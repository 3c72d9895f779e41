package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// pathOf returns the JSON path ("censor.isps[1].delay") of the first
// scalar value in b whose JSON text is raw, or "(unknown field)". It is
// used to name the field of a value that failed its own UnmarshalJSON,
// which encoding/json reports without a location.
func pathOf(b []byte, raw string) string {
	var want any
	if err := json.Unmarshal([]byte(raw), &want); err != nil {
		return "(unknown field)"
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		array bool
		key   string
		index int
	}
	var stack []frame
	expectKey := false
	path := func() string {
		var s string
		for _, f := range stack {
			if f.array {
				s += "[" + strconv.Itoa(f.index) + "]"
			} else {
				if s != "" {
					s += "."
				}
				s += f.key
			}
		}
		return s
	}
	// afterValue advances the enclosing container past one value.
	afterValue := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				expectKey = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "(unknown field)"
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{})
				expectKey = true
			case '[':
				stack = append(stack, frame{array: true})
				expectKey = false
			case '}', ']':
				stack = stack[:len(stack)-1]
				afterValue()
			}
			continue
		case string:
			if expectKey {
				stack[len(stack)-1].key = t
				expectKey = false
				continue
			}
		}
		if same(tok, want) {
			if p := path(); p != "" {
				return p
			}
			return "(top level)"
		}
		afterValue()
	}
}

func same(tok, want any) bool {
	if n, ok := tok.(json.Number); ok {
		f, err := n.Float64()
		w, isNum := want.(float64)
		return err == nil && isNum && f == w
	}
	return fmt.Sprint(tok) == fmt.Sprint(want) && fmt.Sprintf("%T", tok) == fmt.Sprintf("%T", want)
}

// checkKeys rejects an object that names the same key twice (encoding/json
// would silently keep the last), naming the path of the second. Syntax
// errors are left to the decoder, which reports them with an offset.
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys   map[string]bool
		array  bool
		expect bool // the next string is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		top := func() *obj {
			if len(stack) == 0 {
				return nil
			}
			return stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, expect: true})
			case '[':
				stack = append(stack, &obj{array: true})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if o := top(); o != nil && !o.array {
					o.expect = true
				}
			}
			continue
		case string:
			if o := top(); o != nil && !o.array && o.expect {
				if o.keys[t] {
					return fmt.Errorf("scenario: field %q given twice", t)
				}
				o.keys[t] = true
				o.expect = false
				continue
			}
		}
		if o := top(); o != nil && !o.array {
			o.expect = true
		}
	}
}
