package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/renderd/renderd/telemetry"
)

// unmatchedRoute is the route label of a request no route took: an unknown
// path (404), or a known one with a method it does not serve (405, which
// gorilla/mux answers before any route's middleware).
const unmatchedRoute = "unmatched"

// withMetrics counts and times every request (telemetry.HTTPRequests,
// HTTPDuration) by route template, method and status. It sits outside
// withLogging, which turns a panic into the 500 counted here, and inside
// withRequestID, whose requestInfo recordRoute fills with the template.
// No label comes from the client as such: a path no route knows is
// "unmatched" and a method outside HTTP's own is "other", so that a
// scanner cannot grow the series without end.
func withMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := info(r.Context()).route
		if route == "" {
			route = unmatchedRoute
		}
		method := metricMethod(r.Method)
		telemetry.HTTPRequests.WithLabelValues(route, method, codeLabel(rec.status)).Inc()
		telemetry.HTTPDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// codeLabels are the code labels of HTTP's statuses, made once:
// strconv.Itoa allocates for every number above 99.
var codeLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(100 + i)
	}
	return l
}()

func codeLabel(status int) string {
	if status >= 100 && status < 600 {
		return codeLabels[status-100]
	}
	return strconv.Itoa(status)
}

// metricMethod is the method label: one of RFC 9110's methods and PATCH,
// else "other" (net/http accepts any token as a method).
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
