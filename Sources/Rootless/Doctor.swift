public enum Doctor {
    public static func main(_ args: [String]) -> Int32 { 0 }
}
