package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// errBodyTooLarge: the JSON body passed the configured limit.
var errBodyTooLarge = errors.New("request body too large")

// decodeJSON reads one JSON object into dst, strictly: unknown fields,
// wrong types, trailing data, malformed JSON and a string holding NUL
// (refuseNUL) are 400 invalid_request naming the field where there is one;
// a body over limit is 413.
func decodeJSON(r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return badRequest("", "the body must be JSON (Content-Type: application/json)")
		}
	}
	body := http.MaxBytesReader(nil, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := refuseNUL(reflect.ValueOf(dst), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var (
			tooLarge *http.MaxBytesError
			api      *apiError
		)
		switch {
		case errors.As(err, &tooLarge):
			return errBodyTooLarge
		case errors.As(err, &api):
			return err // the body's own verdict (errRequestTimeout)
		}
		return badRequest("", "the body must hold exactly one JSON object")
	}
	return nil
}

// jsonError turns an encoding/json error into a 400 naming the field.
func jsonError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
		api      *apiError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge
	case errors.As(err, &api):
		return err // the body's own verdict (errRequestTimeout)
	case errors.Is(err, io.EOF):
		return badRequest("", "the body is empty; a JSON object is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "the body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("", fmt.Sprintf("the body must be a JSON object, not %s", typ.Value))
		}
		return badRequest(field, fmt.Sprintf("%s must be %s, not %s", field, jsonType(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(field, fmt.Sprintf("unknown field %q", field))
	}
	return badRequest("", "the body is not a valid request: "+err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "float64", "float32", "int", "int64", "int32":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return kind
}
