"""Sends search requests to the storefront."""

import urllib.request

def main(url="http://localhost:8081/search?q=tea", n=10):
    for _ in range(n):
        urllib.request.urlopen(url).read()

if __name__ == "__main__":
    main()
