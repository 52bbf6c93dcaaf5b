"""The embedded demo data (CIFAR-10 subset) and the script that built it; see README.md."""
