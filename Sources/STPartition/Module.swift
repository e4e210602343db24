import STCore
