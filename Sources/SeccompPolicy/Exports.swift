// The JSON parser moved to PureJSON (images parse JSON too); policy users keep seeing it here.
@_exported import PureJSON
