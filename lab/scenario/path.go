package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
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

// checkKeys walks b against the fields of Scenario and rejects a key that
// names no field where it appears, or a key given twice in one object
// (encoding/json would silently keep the last), naming the full path:
// "censor.isps[0].dealy"; the keys of a map are free, its values are
// checked. Syntax errors are left to the decoder, which
// reports them with an offset.
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		typ    reflect.Type // struct type of an object, element type of an array; nil: unchecked
		elem   reflect.Type // value type of an object that is a map (any key); nil: not a map
		array  bool
		index  int
		key    string // the current key of an object
		keys   map[string]bool
		expect bool // the next string is a key
		path   string
	}
	var stack []*frame
	// next is the type of the value about to start.
	next := deref(reflect.TypeFor[Scenario]())
	here := func(f *frame) string {
		if f.array {
			return f.path + "[" + strconv.Itoa(f.index) + "]"
		}
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	done := func() { // one value of the enclosing container is complete
		if n := len(stack); n > 0 {
			if f := stack[n-1]; f.array {
				f.index++
				next = f.typ
			} else {
				f.expect = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		path := ""
		if top != nil {
			path = here(top)
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				f := &frame{keys: map[string]bool{}, expect: true, path: path}
				switch {
				case next != nil && next.Kind() == reflect.Struct:
					f.typ = next
				case next != nil && next.Kind() == reflect.Map:
					f.elem = deref(next.Elem())
				}
				stack = append(stack, f)
			case '[':
				f := &frame{array: true, path: path}
				if next != nil && next.Kind() == reflect.Slice {
					f.typ = deref(next.Elem())
				}
				next = f.typ
				stack = append(stack, f)
			case '}', ']':
				stack = stack[:len(stack)-1]
				done()
			}
			continue
		case string:
			if top != nil && !top.array && top.expect {
				top.key, top.expect = t, false
				if top.keys[t] {
					return fmt.Errorf("scenario: %s: given twice", here(top))
				}
				top.keys[t] = true
				next = top.elem
				if top.typ != nil {
					ft, ok := jsonField(top.typ, t)
					if !ok {
						return fmt.Errorf("scenario: %s: unknown field", here(top))
					}
					next = deref(ft)
				}
				continue
			}
		}
		done()
	}
}

// jsonField returns the type of the field of struct t whose JSON name is
// exactly name. encoding/json would also accept "Clients" or "CLIENTS";
// scenario files are stricter, so one field has one spelling.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if f.IsExported() && tag != "-" && tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
