package gpuinfo

import "errors"

func isNoDriverOrNoCgo(err error) bool {
	return errors.Is(err, ErrNoDriver) || errors.Is(err, ErrNoCgo)
}
