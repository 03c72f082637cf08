package queue

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// bind binds args to st's parameters ?1, ?2, ... for statements run through
// the driver's direct API. It takes the types the hot statements use.
func bind(st *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case int:
			err = st.BindInt(i+1, v)
		case int64:
			err = st.BindInt64(i+1, v)
		case string:
			err = st.BindText(i+1, v)
		default:
			err = fmt.Errorf("unsupported type %T", a)
		}
		if err != nil {
			return fmt.Errorf("bind parameter %d: %w", i+1, err)
		}
	}
	return nil
}
