print("stgnn-dist: under construction")
