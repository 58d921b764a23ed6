package blob

import "fmt"

// openLocal opens the local store as a Store.
//
// TODO: return NewLocal's store as it is once Local implements Store (it
// is being adapted alongside); until then the assertion keeps this
// package building without it.
func openLocal(dir string) (Store, error) {
	l, err := NewLocal(dir)
	if err != nil {
		return nil, err
	}
	var v any = l
	s, ok := v.(Store)
	if !ok {
		_ = l.Close()
		return nil, fmt.Errorf("blob store %s: the local store does not implement Store yet", dir)
	}
	return s, nil
}
